from cordon.cli.main import main

main()
