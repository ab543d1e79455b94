package linkpreview

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/url"
	"strings"
	"testing"
)

func TestFirstURL(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"see https://a.example/x.", "https://a.example/x"},
		{"no link here", ""},
		{"(http://b.example/path?q=1)", "http://b.example/path?q=1"},
		{"first HTTPS://C.example then https://d.example", "HTTPS://C.example"},
		{"ftp://e.example https://f.example/a,b", "https://f.example/a,b"},
		{"https:// broken then\nhttps://g.example/", "https://g.example/"},
		{"text:https://h.example/y!", "https://h.example/y"},
	} {
		if got := FirstURL(tc.text); got != tc.want {
			t.Errorf("FirstURL(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	page, _ := url.Parse("https://shop.example/items/42")
	for _, tc := range []struct {
		name, html         string
		title, description string
		image              string
	}{
		{"open graph", `<html><head><meta property="og:title" content="Blue  shoes"><meta property="og:description" content="Size 42">
			<meta property="og:image" content="/img/42.jpg"><title>ignored</title></head><body>x</body></html>`,
			"Blue shoes", "Size 42", "https://shop.example/img/42.jpg"},
		{"fallbacks", `<head><title> Shop &amp; more </title><meta name="description" content="All items"></head>`,
			"Shop & more", "All items", ""},
		{"twitter", `<meta name="twitter:title" content="T"><meta name="twitter:image" content="https://cdn.example/t.png">`,
			"T", "", "https://cdn.example/t.png"},
		{"first tag wins", `<meta property="og:title" content="one"><meta property="og:title" content="two">`, "one", "", ""},
		{"body ends the head", `<body><meta property="og:title" content="late"></body>`, "", "", ""},
		{"no javascript image", `<meta property="og:image" content="javascript:alert(1)">`, "", "", ""},
		{"not html", "\x00\x01binary", "", "", ""},
	} {
		card := Parse(strings.NewReader(tc.html), page)
		img := ""
		if card.Image != nil {
			img = card.Image.URL
		}
		if card.URL != page.String() || card.Title != tc.title || card.Description != tc.description || img != tc.image {
			t.Errorf("%s: got %+v (image %q), want title %q description %q image %q", tc.name, card, img, tc.title, tc.description, tc.image)
		}
	}
	long := `<meta property="og:title" content="` + strings.Repeat("é", 400) + `">`
	if got := []rune(Parse(strings.NewReader(long), page).Title); len(got) != maxTitle || got[maxTitle-1] != '…' {
		t.Errorf("a long title is not clipped to %d characters: %d", maxTitle, len(got))
	}
}

func TestThumbnail(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, 800, 400))
	for x := range 800 {
		src.Set(x, 10, color.RGBA{R: 255, A: 255})
	}
	var pngData bytes.Buffer
	if err := png.Encode(&pngData, src); err != nil {
		t.Fatal(err)
	}
	out, w, h, err := Thumbnail(pngData.Bytes(), SmallSide)
	if err != nil || w != SmallSide || h != SmallSide/2 {
		t.Fatalf("Thumbnail = %dx%d, %v; want %dx%d", w, h, err, SmallSide, SmallSide/2)
	}
	got, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil || got.Bounds().Dx() != w || got.Bounds().Dy() != h {
		t.Fatalf("the thumbnail is not a %dx%d JPEG: %v", w, h, err)
	}
	if _, w, h, err := Thumbnail(pngData.Bytes(), 1000); err != nil || w != 800 || h != 400 {
		t.Errorf("a small picture is resized: %dx%d, %v", w, h, err)
	}
	if _, _, _, err := Thumbnail([]byte("<html>"), SmallSide); !errors.Is(err, ErrNoImage) {
		t.Errorf("Thumbnail of HTML = %v, want ErrNoImage", err)
	}
}
