"""What is specific to text classification (Choices): prediction regions and annotation reading. Pure."""
