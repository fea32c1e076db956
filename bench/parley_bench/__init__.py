"""The Parley benchmark harness: runs Parley and its peers under the same load."""
