"""Command-line interface: ``semmol <stage> ...``; one module per subcommand."""
