"""Built-in strategies. Copy one into ./strategies/ to make your own."""
