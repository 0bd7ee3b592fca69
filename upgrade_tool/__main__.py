from upgrade_tool.cli import main

main()
