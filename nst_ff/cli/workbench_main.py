"""`nst-workbench [streamlit options]`: the workbench page served by Streamlit, from any install."""

import sys
from pathlib import Path

from nst_ff.cli.arguments import fail
from nst_ff.io.config import pin_environment


def main(argv: list[str] | None = None) -> int:
    pin_environment()  # the page runs in Streamlit's process, which inherits it
    try:
        from streamlit.web import cli as streamlit_cli
    except ImportError:
        return fail("nst-workbench", 'the workbench needs Streamlit: pip install "nst_ff[workbench]"')
    page = Path(__file__).resolve().parent.parent / "app" / "page.py"
    sys.argv = ["streamlit", "run", str(page), *(sys.argv[1:] if argv is None else argv)]
    return streamlit_cli.main()
