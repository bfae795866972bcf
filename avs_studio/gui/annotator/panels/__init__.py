"""The annotator's panels: the clip list, the strip of sampled frames, the objects of the frame
and the class picker."""
