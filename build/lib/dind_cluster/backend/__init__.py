"""The Docker edge: the only package that imports the docker SDK."""
