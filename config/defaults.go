package config

import "time"

// Defaults returns the configuration used for every field gateway.yaml leaves out. Each
// value is the default stated on the field's doc comment, and the shipped gateway.yaml
// repeats them all.
func Defaults() Config {
	return Config{
		Server: Server{
			Listen:          "127.0.0.1:8080",
			ReadTimeout:     Duration(30 * time.Second),
			WriteTimeout:    Duration(30 * time.Second),
			IdleTimeout:     Duration(120 * time.Second),
			MaxBodyBytes:    1 << 20,
			ShutdownTimeout: Duration(15 * time.Second),
		},
		API: API{StrictFields: true},
		Store: Store{
			Dir:            "./data",
			SyncWrites:     true,
			GCInterval:     Duration(10 * time.Minute),
			GCDiscardRatio: 0.5,
			MemtableSize:   4 << 20,
			NumMemtables:   3,
			BlockCacheSize: 32 << 20,
			TableSize:      2 << 20,
			NumCompactors:  2,
			Compression:    "none",
		},
		Log: Log{
			Level:  "info",
			Format: "text",
		},
		Limits: Limits{
			DefaultPlan: Plan{
				MaxSessions:       10,
				MaxMessagesPerDay: 10000,
			},
			MaxTenants:       0,
			MaxSubscribers:   1000,
			SubscriberBuffer: 256,
		},
		Queue: Queue{
			MaxPerSession:  1_000_000,
			MaxTotal:       10_000_000,
			IdempotencyTTL: Duration(24 * time.Hour),
			RatePerSession: 1,
			Burst:          5,
			MaxAttempts:    5,
			BackoffBase:    Duration(2 * time.Second),
			BackoffMax:     Duration(5 * time.Minute),
			MaxWait:        Duration(24 * time.Hour),
			MaxConcurrent:  256,
			FailoverAfter:  Duration(10 * time.Minute),
		},
		Pacing:   defaultPacing(),
		Policies: Policies{MaxPerTenant: 20, MaxVersions: 10, MaxLuaBytes: 64 << 10, MaxWASMBytes: 8 << 20, InitTimeout: Duration(time.Second)},
		Webhooks: Webhooks{
			MaxPerTenant:           10,
			MaxConcurrent:          64,
			MaxInFlightPerEndpoint: 8,
			Timeout:                Duration(10 * time.Second),
			RetryHorizon:           Duration(24 * time.Hour),
			BackoffBase:            Duration(5 * time.Second),
			BackoffMax:             Duration(time.Hour),
			DisableAfter:           Duration(120 * time.Hour),
			Retention:              Duration(168 * time.Hour),
			MaxResponseBytes:       64 << 10,
			Buffer:                 65536,
		},
		Campaigns: Campaigns{
			MaxLists:     100,
			MaxListSize:  1_000_000,
			StopWords:    "STOP,STOP ALL,UNSUBSCRIBE,CANCEL,END,QUIT,BERHENTI,PARAR,BAJA",
			ChunkSize:    100,
			MaxInFlight:  1000,
			MaxCampaigns: 20,
			ReplyWindow:  Duration(72 * time.Hour),
		},
		Retention: defaultRetention(),
		Disk:      defaultDisk(),
		Memory:    defaultMemory(),
		Cluster:   defaultCluster(),
		Sessions: Sessions{
			StartTimeout:   Duration(30 * time.Second),
			StopTimeout:    Duration(10 * time.Second),
			SendTimeout:    Duration(30 * time.Second),
			RestoreOnStart: true,
			// sessions.* mitigations (docs/operations.md).
			RestoreConcurrency: 8,
			RestoreWindow:      Duration(60 * time.Second),
			Health: SessionHealth{
				Enabled:           true,
				Interval:          Duration(30 * time.Second),
				UnresponsiveAfter: Duration(90 * time.Second),
				PingTimeout:       Duration(10 * time.Second),
				SendTimeouts:      3,
				BackoffBase:       Duration(5 * time.Second),
				BackoffMax:        Duration(5 * time.Minute),
			},
			Pool: SessionPool{MaxLive: 1000, AdmissionQueue: 100, AdmissionTimeout: Duration(10 * time.Second)},
			QR:   SessionQR{MaxCodes: 10, MaxAttemptsPerHour: 5},
		},
		Providers: Providers{
			Sandbox: Sandbox{
				Enabled:        true,
				AutoLink:       0,
				FirstQRTimeout: Duration(60 * time.Second),
				QRTimeout:      Duration(20 * time.Second),
				MaxQRCodes:     6,
				SendLatency:    Duration(50 * time.Millisecond),
				DeliveryDelay:  Duration(200 * time.Millisecond),
				ReadDelay:      Duration(time.Second),
			},
			Whatsmeow: Whatsmeow{
				Enabled:         true,
				OSName:          "wagate",
				EventQueue:      4096,
				MaxMediaBytes:   64 << 20,
				RememberedMedia: 1000,
			},
			CloudAPI: CloudAPI{
				Enabled:        true,
				APIVersion:     "v23.0",
				BaseURL:        "https://graph.facebook.com",
				RequestTimeout: Duration(20 * time.Second),
			},
		},
	}
}
