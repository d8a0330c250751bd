"""The data coming in: files read as tables, columns matched by name, named data sets, held-out rows, scaling,
and gymnasium's environments (a policy's episodes in place of rows)."""
