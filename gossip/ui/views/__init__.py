"""The app's screens and panels: each builds its Dear PyGui items once and, every frame,
copies what viewmodel.py says into them when the model part it shows has changed."""
