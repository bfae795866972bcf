"""Training and fine-tuning: the loop with the official losses (``loop``) and its data
(``data``).
"""
