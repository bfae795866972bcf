"""Review of predictions against ground truth: the session (``session``), the per-clip table
(``table``), frame images (``images``), SVG plots (``plots_svg``) and the HTML report
(``report``).
"""
