package main

import "go.uber.org/zap/zapcore"

// zapLevel turns a logr verbosity (-1 debug, 0 info, 2 error) into zap's level.
func zapLevel(l int8) zapcore.Level { return zapcore.Level(l) }
