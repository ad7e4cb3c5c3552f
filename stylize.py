"""Stylize photos with a trained network: `python stylize.py --ckpt CKPT --input photo.jpg --style NAME`."""

import sys

from nst_ff.cli.stylize_main import main

if __name__ == "__main__":
    sys.exit(main())
