// SCAFFOLD: to be written
