"""The command-line programs: stylize.py, optimize.py and evaluate.py at the top level run these `main`s."""
