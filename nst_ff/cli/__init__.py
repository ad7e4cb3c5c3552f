"""The command-line programs: each `*_main` module holds one command's parser and `main`."""
