"""`nst-workbench [streamlit options]`: the workbench page served by Streamlit, from any install."""

import sys
from pathlib import Path

from nst_ff.cli.arguments import fail
from nst_ff.io.config import pin_environment

HELP = """usage: nst-workbench [STREAMLIT OPTIONS]

The nst_ff workbench in the browser (http://localhost:8501): paint photos and short clips with a trained network,
blend styles with sliders, see the network's and VGG's activation maps, run per-image optimisation live. It lists
the checkpoints under checkpoints/ of the folder it starts in (checkpoints/*.pt, checkpoints/*/last.ckpt).

Streamlit's options pass through, e.g. --server.port 8502, --server.address 0.0.0.0, --server.headless true;
all of them: streamlit run --help."""


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "-h" in args or "--help" in args:  # Streamlit's own help is that of `streamlit run`, about a script to give
        print(HELP)
        return 0
    pin_environment()  # the page runs in Streamlit's process, which inherits it
    try:
        from streamlit.web import cli as streamlit_cli
    except ImportError:
        return fail("nst-workbench", 'the workbench needs Streamlit: pip install "nst_ff[workbench]"')
    page = Path(__file__).resolve().parent.parent / "app" / "page.py"
    sys.argv = ["streamlit", "run", str(page), *args]
    return streamlit_cli.main()
