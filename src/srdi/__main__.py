from srdi.cli.app import main

main()
