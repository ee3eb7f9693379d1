from sitcli.cli import main

main()
