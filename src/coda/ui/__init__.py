"""What the person sees: the interactive terminal and the headless writers."""
