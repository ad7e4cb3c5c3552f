"""Score a checkpoint: its quality on the fixed yardstick, and its loss against per-image optimisation:
`python evaluate.py --ckpt CKPT --content-dir photos/ --style-dir styles/ [--opt-steps 0]`."""

import sys

from nst_ff.cli.evaluate_main import main

if __name__ == "__main__":
    sys.exit(main())
