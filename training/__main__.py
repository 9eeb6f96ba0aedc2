from training.cli import app
from training.tracking import client_defaults

client_defaults()
app(prog_name="python -m training")
