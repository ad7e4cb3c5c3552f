"""Optimise one image against the training loss (Gatys et al.):
`python optimize.py --input photo.jpg --style-image painting.jpg --output out.png [--gif out.gif]`."""

import sys

from nst_ff.cli.optimize_main import main

if __name__ == "__main__":
    sys.exit(main())
