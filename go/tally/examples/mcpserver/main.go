// Command mcpserver is an example long-running host shaped like an MCP
// server (vMCP): it answers newline-delimited JSON-RPC on stdin/stdout,
// counts its tool calls, flushes on an interval, and takes its instance id
// from MCPSERVER_TELEMETRY_INSTANCE_ID (as a ConfigMap or the downward API
// would inject it). It counts each session's client (by clientInfo, mapped
// onto the schema's names) and sets the day's protocol and capability
// facts. stdout is the protocol channel: tally never writes to it.
package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/signal"
	"syscall"
	"time"

	tally "github.com/tally-telemetry/tally-go"
)

type request struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params,omitempty"`
}

var tools = map[string]func(args map[string]interface{}) (string, bool){
	"echo": func(a map[string]interface{}) (string, bool) { s, _ := a["text"].(string); return s, false },
	"fail": func(map[string]interface{}) (string, bool) { return "it failed", true },
}

func main() {
	t, _ := tally.New(tally.Options{Name: "mcpserver", Version: "1.0.0"})
	t.StartIntervalFlush()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		t.Exit(0)
	}()
	out := json.NewEncoder(os.Stdout)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 64*1024), 1<<20)
	for in.Scan() {
		var req request
		if json.Unmarshal(in.Bytes(), &req) != nil || req.ID == nil {
			continue
		}
		resp := map[string]interface{}{"jsonrpc": "2.0", "id": req.ID}
		switch req.Method {
		case "initialize":
			var p struct {
				ClientInfo struct {
					Name    string `json:"name"`
					Version string `json:"version"`
				} `json:"clientInfo"`
			}
			_ = json.Unmarshal(req.Params, &p)
			t.RecordClient(p.ClientInfo.Name, p.ClientInfo.Version)
			t.SetFact("protocol_version", "2025-06-18")
			t.SetFact("declares_tools", "true")
			resp["result"] = map[string]interface{}{"protocolVersion": "2025-06-18", "serverInfo": map[string]string{"name": "mcpserver", "version": "1.0.0"}, "capabilities": map[string]interface{}{"tools": map[string]interface{}{}}}
		case "tools/list":
			resp["result"] = map[string]interface{}{"tools": []map[string]string{{"name": "echo"}, {"name": "fail"}}}
		case "tools/call":
			start := time.Now()
			var p struct {
				Name      string                 `json:"name"`
				Arguments map[string]interface{} `json:"arguments"`
			}
			_ = json.Unmarshal(req.Params, &p)
			fn, ok := tools[p.Name]
			if !ok {
				// A name the client made up is not ours to record.
				resp["error"] = map[string]interface{}{"code": -32602, "message": "unknown tool"}
				t.RecordToolCall("", tally.ToolProtocolError, time.Since(start))
				break
			}
			text, isErr := fn(p.Arguments)
			resp["result"] = map[string]interface{}{"content": []map[string]string{{"type": "text", "text": text}}, "isError": isErr}
			outcome := tally.ToolOK
			if isErr {
				outcome = tally.ToolError
			}
			t.RecordToolCall(p.Name, outcome, time.Since(start))
		default:
			resp["error"] = map[string]interface{}{"code": -32601, "message": "method not found"}
		}
		_ = out.Encode(resp)
	}
	_ = t.Close()
}
