"""Interactive explorers. Each module keeps the computation in plain, tested functions and only wires
ipywidgets controls to them; every widget can be built and driven headless.
"""
