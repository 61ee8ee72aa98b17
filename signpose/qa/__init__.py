"""Looking at the output: the contract checker and the skeleton drawer."""
