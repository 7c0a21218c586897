B	initial_cJ$Eµ?ªÜ¿’v¿>jjF¿¤HX?ì¶¿^5‹>6…?Y
³¿