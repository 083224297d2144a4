"""placeholder"""
from .context import Context

def run(ctx: Context) -> None:
    pass
