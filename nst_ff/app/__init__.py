"""The browser workbench: its computations (free of Streamlit) and its page."""
