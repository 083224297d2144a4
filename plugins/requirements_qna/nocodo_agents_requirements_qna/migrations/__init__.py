"""Migrations of the requirements Q&A agent, one ``V{version}__{name}.py`` module each."""
