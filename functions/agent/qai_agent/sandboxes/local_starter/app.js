// The app's behaviour goes here.
