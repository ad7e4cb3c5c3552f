"""Train a multi-style network: `python train.py data.content_dir=... data.style_dir=... [overrides]`."""

from nst_ff.cli.train_main import main

if __name__ == "__main__":
    main()
