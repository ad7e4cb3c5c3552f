"""The nst_ff workbench in the browser: `streamlit run workbench.py` (or `nst-workbench`)."""

from nst_ff.app.page import main

main()
