from selection.cli import main

main()
