"""Reports of comparisons: pure tables and figure data, matplotlib drawing, HTML/Markdown writers."""

from .write import markdown_table, summary_table, write_report

__all__ = ["markdown_table", "summary_table", "write_report"]
