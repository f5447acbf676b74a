from openhitl.cli import main

main()
