"""Word lists the sandbox generator draws from: names, places, products, chat scripts and the
shopping calendar. Written into the package so that generation never downloads anything."""
