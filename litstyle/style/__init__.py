"""Style scoring shared by every stage that reads the style judge: the scorer (``scorer``), the text
view the judge reads (``views``) and the stylometric parts of the fused score (``stylometry``)."""
