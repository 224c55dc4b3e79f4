from quizctl.cli import main

main()
