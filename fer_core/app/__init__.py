"""What the dashboard pages share: cached models and datasets (``resources``, the only module here
that imports Streamlit), page helpers, plotly charts, and the Photo and Live logic. Pages import
from here and from the layers below; nothing below imports from here.
"""
