"""KakaoTalk AlimTalk through NAVER Cloud SENS: signed calls, templates, the sender, SMS failover, results."""
