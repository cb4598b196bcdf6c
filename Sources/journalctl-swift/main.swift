import JournalCLI

// Parses the arguments, bootstraps logging, runs the subcommand and exits
// with the documented code (see `journalctl-swift --help`).
await JournalCtl.execute()
