from intently.cli import main

main()
