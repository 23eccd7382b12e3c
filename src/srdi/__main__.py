from srdi.cli import main

main()
