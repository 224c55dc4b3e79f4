"""The URL students open, and its QR code for the projector."""

from __future__ import annotations

import base64
import io

import qrcode
import qrcode.image.svg


class JoinLink:
    """The join URL and its QR code as an SVG data URL (made once per URL, without Pillow)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.qr_data_url = qr_svg_data_url(url)

    def set(self, url: str) -> None:
        if url != self.url:
            self.url = url
            self.qr_data_url = qr_svg_data_url(url)


def qr_svg_data_url(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
