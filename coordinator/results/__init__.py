"""What a run saves and reloads, and what its network answers: the result, its records, figures on labelled rows."""
