"""What a run asks for: requests, load model and limits, validated and frozen."""
