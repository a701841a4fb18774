"""SFT stages: teacher-distilled story data (``sft_data``) and TRL supervised fine-tuning (``sft``)."""
