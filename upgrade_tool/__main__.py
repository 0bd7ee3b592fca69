from upgrade_tool.cli import entry_point

entry_point()
